"""The plugin machinery: hook specifications, the typed facade the runner calls, the plugin
manager, entry-point loading, and the registry of what plugins provide."""
