"""Reliability and security tests: faults, bad input, load and churn."""
