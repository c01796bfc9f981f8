"""SimPy call workloads: subscribers, arrivals, holding times, retries, circumvention adoption."""
