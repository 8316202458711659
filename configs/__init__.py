"""The configs shipped with evohybrid (data only): installed as evohybrid.configs."""
