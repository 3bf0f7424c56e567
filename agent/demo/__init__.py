"""Built-in demo config for `opslens up --demo`."""
