"""Model building, evaluation and reporting for the churn train and predict stages."""
