"""Small component functions, one module per part of the screen."""
