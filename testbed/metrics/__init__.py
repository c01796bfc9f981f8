"""Call-quality and policy-impact metrics: E-model, RFC 3550 jitter, Erlang-B, aggregates."""
