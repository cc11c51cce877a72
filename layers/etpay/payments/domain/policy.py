"""The numbers the payment rules run on, in one place. Deployment settings (the stack's currency,
a session's lifetime) come from the environment instead (payments.config.settings); how long an
AWS call may take is the adapters' (payments.adapters.aws).

ETpay publishes none of these limits: each is our choice, and says why.
"""

# A POST /sessions claims the order for this long while it talks to ETpay. It must outlast the
# slowest ETpay call plus our own writes (the function times out at 25 s), so a live claim is
# never taken over; a claim left by a crashed invocation frees itself after this.
SESSION_CLAIM_SECONDS = 60
# An order and all its sessions are one DynamoDB item (at most 400 KB). A new session is only opened
# after the last one ended unpaid; an order that did so this often is refused further sessions.
MAX_SESSIONS_PER_ORDER = 20
# A lost conditional write is re-decided from fresh state at most this many times.
MAX_DECISION_ATTEMPTS = 4

# -- status checks ----------------------------------------------------------------------------------
# The check index's partition key takes this many values (from a hash of the order id): an index
# partition takes about 1,000 writes a second, and with one key value every session opened and
# settled would write to the same one. Changing it moves no stored order: keep it fixed.
PENDING_SHARDS = 32
# A check handed to a worker is not handed out again before this (its time to ask ETpay).
CHECK_LEASE_SECONDS = 5 * 60
# After the final check (at expiry) got no answer from ETpay: again after this, doubling, at most
# FINAL_CHECK_MAX_RETRY_SECONDS apart, until ETpay answers.
FINAL_CHECK_RETRY_SECONDS = 5 * 60
FINAL_CHECK_MAX_RETRY_SECONDS = 60 * 60
# A session this long past its expiry and still not ended counts as stuck (StuckPendingSessions).
STUCK_AFTER_EXPIRY_SECONDS = 10 * 60

# -- the review queue -------------------------------------------------------------------------------
# The review index's partition key takes this many values (a hash of the order id), as the check
# index's: flagging and resolving never write to one hot index partition. Changing it strands the
# orders already queued: keep it fixed.
REVIEW_SHARDS = 32
# An open review older than this is overdue: the sweep counts them every run (OverdueReviews) and
# an alarm stays on while there is one.
REVIEW_OVERDUE_SECONDS = 24 * 3600
