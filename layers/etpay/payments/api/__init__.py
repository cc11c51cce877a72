"""The HTTP edge: API Gateway's proxy events in and responses out (`http`, where every domain
error becomes its HTTP status, once), what callers may send (`validation`) and the pages the API
answers with (`views`). Uses the domain's types; the functions hand what it parses to a use case.
"""
