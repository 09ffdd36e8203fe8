"""CityHub: the city brain's data-sharing hub (the server library)."""
