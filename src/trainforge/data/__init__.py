"""Reading data: tables, texts, sentences, images and interactions; splits and preprocessing."""
