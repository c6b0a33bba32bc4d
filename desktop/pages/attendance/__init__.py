"""The sections of the Attendance tab (`desktop.pages.attendance_page.AttendancePage`): the sessions
pane, the marks pane with its filters, the evidence box, and the dialog asking for a reason."""
