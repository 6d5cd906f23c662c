"""The web app: a Flask backend-for-frontend that renders pages on the server and calls the four
services' APIs with the signed-in person's token (it reads no service's database)."""
