"""Delivery channels. Each turns a rendered message into one provider call and says what happened (``Outcome``)."""
