"""Maps: folium layers and maps, static figures.

Maps never compute statistics; they draw results computed elsewhere.
"""
