"""Monitoring: the reference profile saved with each model (profile), the drift and live-quality figures of each
scoring batch against it (drift), the alerts and their notifications (alerts, notify) and the dashboard."""
