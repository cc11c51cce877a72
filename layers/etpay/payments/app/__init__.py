"""The use cases: open a session, receive a notification, reconcile, the review queue, publish
and deliver events, read events. Each takes a request, asks the domain (`payments.domain`) what it
means, and carries the decision out through the ports it is handed (`payments.app.ports`): it never
imports an adapter, so what it does can be tested with any store.
"""
