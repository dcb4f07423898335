"""Wire models of the facepay protocol, shared by the client and the backend."""
