"""Who came: frame sources and the grabber, tracking and voting, the recogniser and the marks it writes."""
