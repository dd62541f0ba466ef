"""AWS CDK app for signal9-asset-sync (entry point: infra/app.py)."""
