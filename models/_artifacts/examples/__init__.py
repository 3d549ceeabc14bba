"""The two shipped example models: their specs (the API contract) and how they are trained."""
