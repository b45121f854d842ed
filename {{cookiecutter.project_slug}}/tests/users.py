"""The users tests sign in as: the same names and password in the test process and on servers."""

PASSWORD = "correct horse battery staple"
USERS = {"alice": PASSWORD, "bob": PASSWORD}
