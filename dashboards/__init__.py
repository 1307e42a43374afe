"""carewatch dashboards and alert rules as code."""
