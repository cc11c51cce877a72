"""The template's queues and EventBridge buses in the AWS emulator, as CloudFormation would create
them for the local parameters: each queue with its retention, visibility timeout and redrive
policy (moto moves a message to the dead-letter queue after maxReceiveCount receives, as SQS
does), each bus under the stack's name for it."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.intrinsics import choose, exists
from local.template import load_template, resources_of_type

# Queue attributes of the template passed to CreateQueue as they are.
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize")


class MessagingError(RuntimeError):
    pass


@dataclass
class Messaging:
    """What `Ref` and `Fn::GetAtt ... Arn` give for each queue and bus created."""

    # Ref: a queue's URL, a bus's name.
    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)


def create_queues_and_buses(aws: Any, stack_name: str, conditions: Mapping[str, bool]) -> Messaging:
    """`aws` is the emulator (its `client(service)`)."""
    template = load_template()
    created = Messaging()
    sqs = aws.client("sqs")
    queues = {
        name: resource
        for name, resource in resources_of_type("AWS::SQS::Queue", template).items()
        if exists(resource, conditions)
    }
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for logical_id in sorted(queues, key=lambda name: _redrive_target(queues[name], conditions) is not None):
        properties = queues[logical_id].get("Properties", {})
        attributes = {
            name: str(choose(properties[name], conditions)) for name in QUEUE_ATTRIBUTES if name in properties
        }
        target = _redrive_target(queues[logical_id], conditions)
        if target is not None:
            if target not in created.arns:
                raise MessagingError(f"{logical_id}'s dead-letter queue {target} is not created")
            redrive = choose(properties["RedrivePolicy"], conditions)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": created.arns[target], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        url = sqs.create_queue(QueueName=f"{stack_name}-{logical_id}", Attributes=attributes)["QueueUrl"]
        created.refs[logical_id] = url
        created.arns[logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    events = aws.client("events")
    for logical_id, resource in resources_of_type("AWS::Events::EventBus", template).items():
        if not exists(resource, conditions):
            continue
        name = f"{stack_name}-{logical_id}"
        created.refs[logical_id] = name
        created.arns[logical_id] = events.create_event_bus(Name=name)["EventBusArn"]
    return created


def _redrive_target(resource: Mapping[str, Any], conditions: Mapping[str, bool]) -> str | None:
    redrive = choose(resource.get("Properties", {}).get("RedrivePolicy"), conditions)
    if not redrive:
        return None
    target = redrive.get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target and target["Fn::GetAtt"][1] == "Arn":
        return target["Fn::GetAtt"][0]
    raise MessagingError(f"cannot resolve the dead-letter queue {target!r} locally")
