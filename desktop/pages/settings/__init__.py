"""The group boxes of the Settings tab (`desktop.pages.settings_page.SettingsPage`): video source and
face detector, recognition model, small faces, match threshold with calibration, and general settings."""
