"""The search spaces shipped with evohybrid (data only): installed as evohybrid.search_spaces."""
