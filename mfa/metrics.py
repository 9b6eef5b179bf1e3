from prometheus_client import Counter

SECOND_FACTORS = Counter(
    "restapi_second_factor_checks_total",
    "Second-factor checks by method (totp, recovery_code, webauthn) and outcome",
    ["method", "outcome"],
)
