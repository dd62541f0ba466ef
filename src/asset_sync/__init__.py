"""signal9-asset-sync: keep the signal9_assets DynamoDB table in step with Alpaca's catalog."""

__version__ = "0.1.0"
