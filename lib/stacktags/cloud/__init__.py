"""The cloud targets: AWS Glue, Amazon EMR on EC2 and EMR Serverless. Only this package talks to AWS (boto3); the jobs
and the rest of lib stay plain PySpark. requests.py builds each target's API request from the conf, validate.py
checks it against botocore's model of the operation, submit.py uploads the artifacts and starts and follows a run."""

CLOUD_TARGETS = ("glue", "emr", "emr-serverless")  # scripts/submit.sh --target: AWS's managed Spark
