"""Built-in plugins: registered through the same hooks as installed ones, so each can be replaced."""
