"""What the OpenAPI schema says of one-off messages that only settings know."""

from typing import Any

from kafka_events.services import allowed_topics


def allowed_topics_enum(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS: the topics a one-off message may go to, as the schema's enum
    (KAFKA_TOPICS and the user-events topic of this deployment)."""
    topic = result["components"]["schemas"]["PublishInputRequest"]["properties"]["topic"]
    topic["enum"] = sorted(allowed_topics())
    return result
