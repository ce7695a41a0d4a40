"""The lender look-up API: authenticated, consent-checked, audited."""
