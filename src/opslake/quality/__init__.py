"""Data quality: validation that quarantines bad rows with a reason instead of dropping them."""

from opslake.quality.validation import ValidationResult, validate

__all__ = ["ValidationResult", "validate"]
