"""The sections of the Training tab (`desktop.pages.training_page.TrainingPage`): the job form, the run
controls, the charts and the result box."""
