from setuptools import find_packages, setup

setup(
    name="stacktags",
    version="0.1.0",
    description="Predict Stack Overflow tags from a question's title and body with PySpark, Delta Lake and Spark MLlib",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"stacktags": ["jvm/*.java"]},  # compiled into stacktags.jar by python -m stacktags.jars build
    python_requires=">=3.11",  # tomllib
    # What a job needs beside Spark and Delta. Glue and EMR bring pyspark and Delta themselves (pip must not replace
    # them there): the `spark` extra installs them where nothing provides them (scripts/setup.sh, the local line).
    install_requires=[
        "pyarrow>=15",
        "numpy>=1.26",
        "scipy>=1.11",  # sparse matrices for the multilabel estimator
        "numba>=0.61",  # its sparse-dense products, compiled for the CPU at hand (lib/stacktags/logistic.py)
        "pandas>=2.2",  # PySpark's mapInArrow (the CSV byte-range reader, the training rows' packing) requires it
        "matplotlib>=3.8",  # plots of the evaluation report
    ],
    extras_require={
        # Exact pins: Delta breaks across Spark patch releases; these match Glue 6.0 and EMR emr-spark-8.1.0.
        "spark": ["pyspark==4.1.1", "delta-spark==4.2.0", "spark-nlp==7.0.0"],
        # The Spark 3.5 line (scripts/setup.sh --spark 3.5): Glue 5.1's and EMR 7.x's Spark; Delta 3.3.3, the first
        # 3.3 release that overwrites tables on Spark 3.5.6; NumPy 1 and the pandas and pyarrow built for it
        # (PySpark 3.5 predates NumPy 2).
        "spark35": [
            "pyspark==3.5.6",
            "delta-spark==3.3.3",
            "spark-nlp==5.5.3",
            "numpy<2",
            "pandas<3",
            "pyarrow<19",
        ],
        # scripts/package.sh and the cloud targets: AWS's SDK and the packer of the EMR jobs' Python environment
        "deploy": ["boto3>=1.40", "venv-pack==0.2.0"],
        # the tests (moto: AWS's APIs served on 127.0.0.1), and ruff, pinned: its format changes between versions
        "dev": [
            "pytest>=8",
            "pytest-xdist==3.8.0",
            "chispa>=0.10",
            "deltalake>=0.25",
            "moto[server]==5.2.5",
            "pyyaml>=6",
            "ruff==0.17.6",
        ],
        # the benchmarks/ tools: the seed's approach (scikit-learn, BeautifulSoup), process sampling, Delta reads
        "bench": ["scikit-learn>=1.4", "beautifulsoup4>=4.12", "psutil>=5.9", "deltalake>=0.25"],
    },
)
