"""Architecture JSON files of the retriever registry (a package so that they ship as package data)."""
