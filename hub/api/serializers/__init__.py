"""Request and response shapes of the API, one module per resource. They validate and present; they never
save (the views hand validated data to hub.actions)."""
