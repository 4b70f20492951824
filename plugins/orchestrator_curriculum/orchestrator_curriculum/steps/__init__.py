"""The curriculum scriptlets, one class per module (registered by ``orchestrator_curriculum.plugin``)."""
