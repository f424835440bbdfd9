"""Names shared by `hub up` and the web processes it starts, importable before Django is set up."""

SERVE_FD_COMMAND = "_serve-fd"  # `hub _serve-fd FD`: a web process serving the listening socket inherited as FD
