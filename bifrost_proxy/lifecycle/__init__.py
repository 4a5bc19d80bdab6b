"""Process lifecycle: systemd notifications, graceful drain, worker supervision, proxy headers."""
