"""The register side of the desktop app: starting a session with its group and lateness, the live
register panel, the kiosk view, the end-of-session summary, the register table of the Attendance tab,
excuses and the group report. Every write goes through `ctx.service`; views re-read on its signals."""
