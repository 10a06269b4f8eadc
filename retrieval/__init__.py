"""Product retrieval: sentence encoder, FAISS index, product search. Imports `catalog`, never `actions`."""
