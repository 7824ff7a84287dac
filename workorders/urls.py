from django.urls import path

from workorders import views

app_name = "workorders"

urlpatterns = [
    path("work-orders/", views.workorder_list, name="workorder_list"),
    path("work-orders/<int:pk>/", views.workorder_detail, name="workorder_detail"),
    path("work-orders/<int:pk>/timeline/", views.workorder_timeline, name="workorder_timeline"),
    path("work-orders/<int:pk>/status/", views.workorder_status, name="workorder_status"),
    path("work-orders/<int:pk>/<slug:verb>/", views.workorder_transition, name="workorder_transition"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read/", views.notification_read, name="notification_read"),
]
