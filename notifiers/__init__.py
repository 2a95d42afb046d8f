"""Notifications (outbox, dispatcher, channels, templates) and the scheduler."""
