"""Opinion monitor: the sentiment of a stream of texts in sliding windows per topic, with alerts."""
