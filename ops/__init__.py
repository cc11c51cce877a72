"""The operators' command line: the review queue, resolving a review, an order with its reviews and
events, and webhook redelivery, over the stack's API, every request signed with SigV4 from the
operator's own AWS identity (`python -m ops --help`; ops/README.md)."""
