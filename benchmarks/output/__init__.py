"""What users read: the report and its figures, written atomically."""
