"""The web wing: the app factory, the JSON API views, the install routes and the admin pages."""
