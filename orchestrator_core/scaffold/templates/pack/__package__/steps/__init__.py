"""The pack's scriptlets, one class per module."""
