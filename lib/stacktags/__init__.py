"""stacktags: predict Stack Overflow tags from a question's title and body on Spark and Delta Lake."""

__version__ = "0.1.0"
