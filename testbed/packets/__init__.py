"""Wire formats we build and parse: one builder and one parser per format."""
