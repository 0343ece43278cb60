"""Identity: the identity graph and profiles in Firestore."""
