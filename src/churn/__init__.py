"""The churn-prediction project: warehouse access, data generator, pipeline stages and CLI."""

__version__ = "0.1.0"
